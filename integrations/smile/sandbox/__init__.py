"""A stand-in for Smile.io (OAuth at connect.smile.io + REST at api.smile.io/v1) for demos and tests.

Pure Python, no Django ORM: see ``server.serve`` and the README next to this file.
"""
