"""One path for every CARP transition: devd (FreeBSD), the ucarp up/down scripts, keepalived's notify.

    source ──`carp-pkg event`──▶ record.normalise ─▶ log (events.jsonl, O_APPEND, rotated)
                                                   ─▶ transitions (previous state, counters)
                                                   ─▶ syslog (one line, when a socket exists)
                                                   ─▶ hooks (detached, supervised, timed out)

Modules, one job each: `record` (the source's words → one validated record), `log` (append, rotate,
read, follow), `transitions` (last state and counters per vhid), `hooks` (discover the hooks dir
safely, run the hooks detached under a supervisor), `syslog` (one datagram to the syslog socket),
`devd` (the devd.conf snippet), `invocation` (how devd and ucarp call carp-pkg: an absolute interpreter).

`python -m carp_pkg.events [--root DIR] event ...` is the same `event` command as `carp-pkg event`,
without loading every other command first: it is what devd and the ucarp scripts run, so that a hook
starts within tens of milliseconds of the VIP moving. Keep this package's imports light.
"""
