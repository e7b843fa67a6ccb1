"""Conformance suites: the real platforms' documented request and message bodies, replayed field by field."""
