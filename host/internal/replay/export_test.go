package replay

// Scoped exposes scoped to the tests of package replay_test.
var Scoped = scoped
