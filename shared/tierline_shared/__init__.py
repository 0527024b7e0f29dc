"""Code that more than one Tierline service needs: settings, bus, database, logging, clock."""
