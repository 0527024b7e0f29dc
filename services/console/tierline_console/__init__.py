"""The console: agents' inbox and supervisors' wallboard, server-rendered HTML over the four
services' APIs (it owns no tables and reads no topic)."""
