package conditions

// EnvBuilds reports how many times the CEL environment was built in this
// process (0 or 1), for the external tests.
func EnvBuilds() int { return int(envBuilds.Load()) }
