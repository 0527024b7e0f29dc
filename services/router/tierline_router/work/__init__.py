"""An agent's work: answers to offers, presence changes, returns on reopen and moves on
escalation (service), a supervisor's force-assign (force); assignments, answers and queues
over REST (api, schemas)."""
