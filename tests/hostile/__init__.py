"""Tests of hostile input: files, sessions, exports, erasure and the bot under attack."""
