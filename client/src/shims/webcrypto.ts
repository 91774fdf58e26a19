/**
 * Stands in for `isomorphic-webcrypto` in the browser bundle. fhirclient only falls back to that package
 * when `globalThis.crypto` is missing, which no supported browser lacks; bundling it pulled in a UMD shim
 * that rolldown warns about. PKCE S256 still needs `crypto.subtle`, i.e. HTTPS or localhost.
 */
export default globalThis.crypto;
