package hotreload

// Trigger says what started a reload. It is recorded in every [Result] and
// reported in logs and in the admin API's reload history.
type Trigger string

// The triggers a reload can have.
const (
	// TriggerFile is an event from the file-system watcher in a directory of
	// a config file or include glob.
	TriggerFile Trigger = "file"
	// TriggerPoll is a content change found by polling (reload.poll > 0).
	TriggerPoll Trigger = "poll"
	// TriggerSignal is a SIGHUP received by the process.
	TriggerSignal Trigger = "signal"
	// TriggerAdmin is a POST to the admin API's reload endpoint.
	TriggerAdmin Trigger = "admin"
	// TriggerStart is the first load when the host starts.
	TriggerStart Trigger = "start"
)

// String returns the trigger's name.
func (t Trigger) String() string { return string(t) }
