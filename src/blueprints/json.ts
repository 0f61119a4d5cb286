/** A JSON value as it travels in blueprints, events and messages. */
export type Json =
  null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
