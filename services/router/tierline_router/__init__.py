"""Router: agents, skill-based matching, assignments and the waiting queue."""
