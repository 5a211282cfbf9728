package replay

// Scoped exposes scoped to the tests of package replay_test.
var Scoped = scoped

// ConfigOf returns the configuration an engine runs with, its defaults applied.
func ConfigOf(e *Engine) Config { return e.cfg }
