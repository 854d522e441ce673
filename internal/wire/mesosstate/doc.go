// Package mesosstate reads and writes the Mesos master's v0 state document
// (GET /master/state, formerly /state.json) and the JSON MasterInfo that
// masters publish in ZooKeeper, translating between those wire shapes and the
// shared model in internal/cluster.
//
// Decode is what the Mesos source runs on every poll, so it is tolerant where
// real masters differ (0.2x vs 1.x field sets, legacy ip_address, labels that
// are sometimes bare arrays and sometimes {"labels":[…]} objects) and strict
// where a mistake would silently corrupt service discovery: a value of the
// wrong type is an error that names its path. One broken agent, framework or
// task costs only itself, so a single odd task cannot take DNS down for the
// whole cluster. Encode is what the simulator serves; it writes what a Mesos
// 1.x master writes, fast enough for 100,000 tasks.
package mesosstate
