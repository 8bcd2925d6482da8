// Shape legend used in every FledgeNN file (llm.c style):
//   B  batch size                 T  sequence length (queries)     S  key/value length
//   N  rows = B·T                 C  channels (hidden size)        I  input features
//   O  output features            V  vocabulary (or draft vocabulary) size
//   NH query heads                NKV key/value heads              D  head dimension
//   M, K, Nn  matrix sizes of a product C[M,Nn] = op(A)[M,K] · op(B)[K,Nn]
// Every `backward` ACCUMULATES into its gradient buffers (+=) unless its comment says it
// overwrites, so gradients of shared tensors add up without extra copies; zero them before
// the first backward of a step.
