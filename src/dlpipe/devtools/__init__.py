"""Tools for developing and testing dlpipe: throwaway servers on 127.0.0.1."""
