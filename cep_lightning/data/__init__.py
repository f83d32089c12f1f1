"""Offline data sets: sources, containers and the Lightning data module."""
