package routes

import (
	"strconv"
	"strings"
)

// Problem is something Build could not honour. Marathon-LB reacts to a bad
// label by aborting the whole configuration (issue #234); Build instead
// leaves out only what the problem concerns and says so here, so that the
// operator can fix the app while every other app keeps being served.
type Problem struct {
	// AppID is the app (after a zero-downtime-deployment merge, the group id).
	AppID string
	// PortIndex is the service-port index, -1 when the problem is app-wide.
	PortIndex int
	// ServicePort is the service port concerned, 0 when unknown.
	ServicePort int
	// TaskID is set for problems with one task (which is then not routed).
	TaskID string
	// Label is the offending label key, empty when no label is at fault.
	Label  string
	Reason string
	// Disabled is true when the service (or, with PortIndex -1, the app)
	// was left out of the table; false for warnings about ignored input.
	Disabled bool
}

// String renders the problem for logs: app, port, task, label and reason.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString("app ")
	b.WriteString(p.AppID)
	if p.PortIndex >= 0 {
		b.WriteString(" port index ")
		b.WriteString(strconv.Itoa(p.PortIndex))
		if p.ServicePort > 0 {
			b.WriteString(" (service port ")
			b.WriteString(strconv.Itoa(p.ServicePort))
			b.WriteString(")")
		}
	}
	if p.TaskID != "" {
		b.WriteString(" task ")
		b.WriteString(p.TaskID)
	}
	if p.Label != "" {
		b.WriteString(" label ")
		b.WriteString(p.Label)
	}
	b.WriteString(": ")
	b.WriteString(p.Reason)
	if p.Disabled {
		if p.TaskID != "" {
			b.WriteString(" (task not routed)")
		} else if p.PortIndex >= 0 {
			b.WriteString(" (service disabled)")
		} else {
			b.WriteString(" (app disabled)")
		}
	}
	return b.String()
}
