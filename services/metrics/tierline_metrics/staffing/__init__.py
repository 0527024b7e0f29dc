"""Workforce planning maths: Erlang C and Erlang A, required agents. Pure, no I/O."""
