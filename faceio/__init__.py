"""File plumbing every layer shares; it imports nothing of the project.

* :mod:`~faceio.atomic` - atomic writes of files and directories (a killed process never
  leaves half an output behind).
"""
