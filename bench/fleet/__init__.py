"""The fleet benchmark (figure 10): many merchants on one box, on the production path. See driver.py."""
