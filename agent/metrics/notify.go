package metrics

// Notification counts one delivery outcome of a notification: result is
// delivered, failed, dropped or suppressed (notify.Result*).
func (m *Metrics) Notification(target, event, result string) {
	m.notifications.add(1, target, event, result)
}
