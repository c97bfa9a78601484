"""Support for testing programs that embed Orchestra: real servers to run tests against."""
