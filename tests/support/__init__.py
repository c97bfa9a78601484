"""Test support code shared by several test areas (servers, builders)."""
