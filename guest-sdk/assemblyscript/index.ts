// The package entry AssemblyScript resolves for `import ... from "@durohost/sdk"`.
export * from "./assembly/index";
