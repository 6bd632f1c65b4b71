"""One module per subcommand; each defines NAME, HELP, DESCRIPTION, add_arguments(parser) and run(args, ctx)."""

COMMANDS = (
    "validate",
    "render",
    "sync",
    "status",
    "maintenance",
    "disable",
    "enable",
    "demotion",
    "install",
    "deinstall",
    "rules",
    "stop",
    "sniff",
    "check",
    "metrics",
    "compare",
    "lab",
    "serve",
    "event", "events",
)
