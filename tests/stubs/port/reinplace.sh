#!/bin/sh
# REINPLACE_CMD stand-in: FreeBSD's in-place `sed -i '' ...`, spelled for any sed.
if [ "$1" = "-i" ] && [ "$2" = "" ]; then
	shift 2
fi
exec sed -i "$@"
