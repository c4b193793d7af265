/**
 * A Y.Doc as JSON without knowing its schema. A document loaded from storage
 * has its root types as untyped `AbstractType`s (Yjs learns a root's type only
 * from `getText` / `getArray` / ...), so each root's type is inferred from its
 * content: map entries make a Y.Map, string or format content a Y.Text, XML
 * children a Y.XmlFragment, anything else in a list a Y.Array.
 */
import * as Y from 'yjs'

export type RootKind = 'map' | 'array' | 'text' | 'xml' | 'empty'

/** What kind of root type `name` is, from its content. */
export function inferRootKind (type: Y.AbstractType<any>): RootKind {
  if (type instanceof Y.Text) return 'text'
  if (type instanceof Y.Array) return 'array'
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.XmlFragment) return 'xml'
  for (let item = type._start; item !== null; item = item.right) {
    const c = item.content
    if (c instanceof Y.ContentString || c instanceof Y.ContentFormat || c instanceof Y.ContentEmbed) return 'text'
    if (c instanceof Y.ContentType && (c.type instanceof Y.XmlElement || c.type instanceof Y.XmlText || c.type instanceof Y.XmlHook)) return 'xml'
    if (c instanceof Y.ContentDeleted) continue
    return 'array'
  }
  if (type._start !== null) return 'array' // only deleted items: an emptied list
  return type._map.size > 0 ? 'map' : 'empty'
}

/** Every root type of `doc`, typed by its content, as JSON (Y.Text as a string, XML as its string form). */
export function docToJSON (doc: Y.Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of [...doc.share.keys()].sort()) {
    const kind = inferRootKind(doc.share.get(name)!)
    switch (kind) {
      case 'text': out[name] = doc.getText(name).toJSON(); break
      case 'array': out[name] = doc.getArray(name).toJSON(); break
      case 'map': out[name] = doc.getMap(name).toJSON(); break
      case 'xml': out[name] = doc.getXmlFragment(name).toJSON(); break
      case 'empty': out[name] = null
    }
  }
  return out
}

/** True when the doc holds nothing at all (no structs, no deletions). */
export function isEmptyDoc (doc: Y.Doc): boolean {
  return doc.store.clients.size === 0
}
