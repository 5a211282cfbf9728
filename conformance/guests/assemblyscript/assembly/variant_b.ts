// The variant-b build of the test guest: a changed and redeployed version of the code
// (conformance/scenarios/README.md, "Variant-dependent orchestrations").
import { registerSDKChecks } from "./sdk";
import { registerScenarios, setVariant } from "./scenarios";
export { durohost_run, durohost_abi_version } from "@durohost/sdk";

setVariant("b");
registerScenarios();
registerSDKChecks();
