// Optional accelerator for Smarty frame decryption (AES-128-GCM, 12-byte tag), loaded by
// src/gateway/native-gcm.ts when built. node:crypto creates a decipher per frame and crosses into C++
// five times (createDecipheriv, setAAD, setAuthTag, update, final); here one EVP_CIPHER_CTX is keyed
// once per key and each frame is one call that only re-sets the IV. It links against the OpenSSL that
// node itself carries (the node binary exports the EVP symbols), so it needs no libssl of its own.
//
// JS API:
//   newContext(): external   an unkeyed context, freed by its finalizer when collected
//   decrypt(context, key[16], aad, systemTitle[8], frameCounter (uint32), ciphertext, tag[12], out)
//       -> true with the plaintext in `out` (as long as the ciphertext), or false when the tag does not
//          verify (and `out` is wiped). The caller allocates `out`: a Buffer made in JS costs less
//          than one made here (napi_create_buffer re-sets the prototype of a new Uint8Array).
// Every length is checked here; a wrong argument throws and decrypts nothing.
#include <limits.h>
#include <node_api.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 16
#define IV_BYTES 12
#define SYSTEM_TITLE_BYTES 8
#define TAG_BYTES 12
#define ARGS 8

typedef struct {
  EVP_CIPHER_CTX* ctx;
  unsigned char key[KEY_BYTES];
  int keyed;  // whether ctx holds `key`'s schedule (a failed re-key leaves it 0)
} Context;

// Marks the externals this module made, so a foreign external is refused instead of dereferenced.
static const napi_type_tag CONTEXT_TAG = {0x7031676174657761ULL, 0x792d61657367636dULL};

static void free_context(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Context* c = (Context*)data;
  EVP_CIPHER_CTX_free(c->ctx);
  OPENSSL_cleanse(c->key, sizeof c->key);
  free(c);
}

static napi_value throw_error(napi_env env, const char* message) {
  napi_throw_error(env, "P1_NATIVE_GCM", message);
  return NULL;
}

static napi_value new_context(napi_env env, napi_callback_info info) {
  (void)info;
  Context* c = (Context*)calloc(1, sizeof(Context));
  if (c == NULL) return throw_error(env, "out of memory");
  c->ctx = EVP_CIPHER_CTX_new();
  // The cipher and IV length are set once; the key comes with the first frame.
  if (c->ctx == NULL || EVP_DecryptInit_ex(c->ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, IV_BYTES, NULL) != 1) {
    EVP_CIPHER_CTX_free(c->ctx);
    free(c);
    ERR_clear_error();
    return throw_error(env, "EVP_CIPHER_CTX set-up failed");
  }
  napi_value out;
  if (napi_create_external(env, c, free_context, NULL, &out) != napi_ok) {
    free_context(env, c, NULL);
    return throw_error(env, "napi_create_external failed");
  }
  if (napi_type_tag_object(env, out, &CONTEXT_TAG) != napi_ok) return throw_error(env, "type tag failed");
  return out;
}

// The bytes of a Buffer/Uint8Array argument; 0 (with an exception pending) when it is not one.
static int bytes_of(napi_env env, napi_value value, const unsigned char** data, size_t* length) {
  void* p = NULL;
  if (napi_get_buffer_info(env, value, &p, length) != napi_ok) {
    throw_error(env, "expected a Buffer");
    return 0;
  }
  *data = (const unsigned char*)p;
  return 1;
}

static napi_value boolean(napi_env env, bool value) {
  napi_value out = NULL;
  napi_get_boolean(env, value, &out);
  return out;
}

static napi_value decrypt(napi_env env, napi_callback_info info) {
  size_t argc = ARGS;
  napi_value argv[ARGS];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != ARGS) {
    return throw_error(env, "decrypt takes 8 arguments");
  }
  bool is_context = false;
  Context* c = NULL;
  if (napi_check_object_type_tag(env, argv[0], &CONTEXT_TAG, &is_context) != napi_ok || !is_context ||
      napi_get_value_external(env, argv[0], (void**)&c) != napi_ok || c == NULL) {
    return throw_error(env, "not a context from newContext()");
  }
  const unsigned char *key, *aad, *title, *ciphertext, *tag, *out_bytes;
  size_t key_len, aad_len, title_len, ciphertext_len, tag_len, out_len;
  if (!bytes_of(env, argv[1], &key, &key_len) || !bytes_of(env, argv[2], &aad, &aad_len) ||
      !bytes_of(env, argv[3], &title, &title_len) || !bytes_of(env, argv[5], &ciphertext, &ciphertext_len) ||
      !bytes_of(env, argv[6], &tag, &tag_len) || !bytes_of(env, argv[7], &out_bytes, &out_len)) {
    return NULL;
  }
  if (key_len != KEY_BYTES) return throw_error(env, "key must be 16 bytes");
  if (title_len != SYSTEM_TITLE_BYTES) return throw_error(env, "system title must be 8 bytes");
  if (tag_len != TAG_BYTES) return throw_error(env, "tag must be 12 bytes");
  if (aad_len > INT_MAX) return throw_error(env, "AAD too long");
  if (out_len != ciphertext_len) return throw_error(env, "out must be as long as the ciphertext");
  // In place is fine for CTR mode; any other overlap would read bytes already overwritten.
  if (out_bytes != ciphertext && out_len > 0 && out_bytes < ciphertext + ciphertext_len &&
      ciphertext < out_bytes + out_len) {
    return throw_error(env, "out overlaps the ciphertext");
  }
  double counter_value;
  if (napi_get_value_double(env, argv[4], &counter_value) != napi_ok || !(counter_value >= 0) ||
      counter_value > 4294967295.0 || counter_value != (double)(unsigned long long)counter_value) {
    return throw_error(env, "frame counter must be an unsigned 32-bit integer");
  }
  unsigned long counter = (unsigned long)counter_value;
  unsigned char* out = (unsigned char*)out_bytes;  // written only from here on
  size_t done = 0;
  int n = 0;

  // IV = system title + frame counter (big-endian).
  unsigned char iv[IV_BYTES];
  memcpy(iv, title, SYSTEM_TITLE_BYTES);
  iv[8] = (unsigned char)(counter >> 24);
  iv[9] = (unsigned char)(counter >> 16);
  iv[10] = (unsigned char)(counter >> 8);
  iv[11] = (unsigned char)counter;

  // Re-keyed only when the key bytes differ from the ones the context holds (a caller may reuse a
  // key buffer for another key). Re-setting the IV restarts GCM: no state of the last frame survives.
  const int rekey = !c->keyed || memcmp(c->key, key, KEY_BYTES) != 0;
  if (rekey) c->keyed = 0;
  if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, rekey ? key : NULL, iv) != 1) goto fail;
  if (rekey) {
    memcpy(c->key, key, KEY_BYTES);
    c->keyed = 1;
  }
  if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, (void*)tag) != 1) goto fail;
  // With a NULL output DecryptUpdate takes AAD, so an empty (maybe NULL) input is never passed.
  if (aad_len > 0 && EVP_DecryptUpdate(c->ctx, NULL, &n, aad, (int)aad_len) != 1) goto fail;

  // GCM is a stream mode: the plaintext is exactly as long as the ciphertext, written in chunks
  // that fit OpenSSL's int lengths.
  while (done < ciphertext_len) {
    size_t left = ciphertext_len - done;
    int chunk = left > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)left;
    if (EVP_DecryptUpdate(c->ctx, out + done, &n, ciphertext + done, chunk) != 1 ||
        n != chunk) {
      goto fail;
    }
    done += (size_t)chunk;
  }
  unsigned char final_block[32];  // GCM writes nothing at the end; a block's room for safety
  if (EVP_DecryptFinal_ex(c->ctx, final_block, &n) != 1 || n != 0) {
    // Tag mismatch: the unauthenticated plaintext is wiped, never handed out.
    if (ciphertext_len > 0) OPENSSL_cleanse(out, ciphertext_len);
    ERR_clear_error();
    return boolean(env, false);
  }
  return boolean(env, true);

fail:
  if (out != NULL && done > 0) OPENSSL_cleanse(out, done);
  ERR_clear_error();
  return throw_error(env, "EVP decryption call failed");
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"newContext", NULL, new_context, NULL, NULL, NULL, napi_default, NULL},
      {"decrypt", NULL, decrypt, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
