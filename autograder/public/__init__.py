"""Modules shipped to students beside their notebooks (course data, no grading logic)."""
