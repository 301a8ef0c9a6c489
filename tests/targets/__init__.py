"""Real target daemons the tests start on loopback (one module per daemon, issue 29).

Each module starts its daemon as an ordinary process in a temporary directory on a free
127.0.0.1 port, with its own configuration, and removes everything it created (system users
included) when it stops. No system service is started or touched.
"""
