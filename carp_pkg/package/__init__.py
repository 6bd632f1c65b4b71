"""The pfSense package's install/deinstall hooks: what it places (targets), the manifest it keeps
(manifest: read as hostile input, decided entry by entry), and removal that never follows a link (removal).
The Installer itself is carp_pkg.hooks."""
