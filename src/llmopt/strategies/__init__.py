"""Strategies beyond routing, each pure: evaluate the window, return recommendations with evidence."""
