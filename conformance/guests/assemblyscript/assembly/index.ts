// The AssemblyScript test guest of the conformance suite, variant a (the default build).
import { registerSDKChecks } from "./sdk";
import { registerScenarios } from "./scenarios";
export { durohost_run, durohost_abi_version } from "@durohost/sdk";

registerScenarios();
registerSDKChecks();
