"""Intake: the REST front door and system of record for ticket facts."""
