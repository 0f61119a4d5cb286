/**
 * The name rules of CONTRACT §2 and §3, in one place: names (blueprints, steps, activities,
 * signals, queries, plugins) and run ids. Every subject and stream name is built from values
 * checked against these.
 */
export const NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
export const RUN_ID = /^[A-Za-z0-9_-]{1,128}$/;
