package postgres

// InstanceAdvisoryLock is the advisory lock (class, key) that starts and deletes of instance
// id in schema take, for tests that hold it from another connection.
func InstanceAdvisoryLock(schema, id string) (int32, int32) {
	return int32(advisoryInstance), advisoryKey(schema, id)
}
