"""The fleet benchmark (figure 9): many merchants on one box, on the production path. See driver.py."""
