// The private Redis and PostgreSQL servers (and temporary directories) live in ConnectorTestServers, which
// `local-runner bench` links too (it must not link the Testing library); the suites keep reaching them from here.
@_exported import ConnectorTestServers
