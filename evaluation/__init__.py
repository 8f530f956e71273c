"""Scoring plate reads against labelled images, and the synthetic scene generator.

Importing this package pulls in nothing heavy: cv2, PIL and the engines load only
inside the functions that need them.
"""
