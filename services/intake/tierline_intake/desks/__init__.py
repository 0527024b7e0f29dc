"""Desk connections: ServiceNow, Jira Cloud and Zendesk as places Tierline writes its
assignments back to, and signs their webhooks in from."""
