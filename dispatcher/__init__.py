"""The dispatcher: results stream -> per-vehicle plate events, recent cache, fleet watch.

Runs on the server side; imports neither OpenCV nor any inference runtime.
"""
