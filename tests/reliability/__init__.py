"""Reliability and security: hostile inputs, fault injection, secrets, fuzzing (issue 7); `make reliability`."""
