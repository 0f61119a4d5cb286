/**
 * A store URL fit for messages and logs: the password in `user:password@` and any `password=`
 * parameter replaced by `***`. Pure; leaves URLs without credentials unchanged.
 */
export const redactStoreUrl = (url: string): string =>
  url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@').replace(/([?&]password=)[^&]*/gi, '$1***');
