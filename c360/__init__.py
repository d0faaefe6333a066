"""c360: a Customer 360 personalization engine on Ray.

Importing the package does no work: no Ray, no I/O, no logging setup.
"""

__version__ = "0.1.0"
