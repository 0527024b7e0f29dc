"""SLA clocks: folded from their events on business calendars, armed as timers that fire
warnings, breaches and escalations."""
