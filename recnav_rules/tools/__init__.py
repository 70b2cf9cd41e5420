"""Tools for policy owners: validate, policy test cases, rule coverage, policy documents."""
