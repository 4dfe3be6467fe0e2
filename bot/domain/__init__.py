"""The bottom layer: the model, its rules, the errors and the storage ports.

Every other package of the bot may import this one; it imports nothing of the project
outside itself (``tests/unit/test_layering.py`` checks it).
"""
