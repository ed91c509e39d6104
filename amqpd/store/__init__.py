"""Durability: durable topology and persistent messages, behind one small interface."""
