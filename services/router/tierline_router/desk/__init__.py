"""The service desks (ServiceNow, Jira, Zendesk): what a desk says about who works a ticket
(assignee), and agents' ids in each desk connection (ids_api)."""
