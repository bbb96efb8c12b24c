"""Running functions on this machine as Lambda runs them."""
