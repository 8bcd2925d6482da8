// Attention tile products: oneDNN bf16 (its matmul primitive, as Fledge calls it) against
// OpenBLAS sgemm on one thread, at the tile shapes of Fledge's flash attention (64 query rows
// × G = 3 heads, 128-key tiles, head dimension 64). A measurement, not part of the build:
//   gcc -O2 Scripts/bench/attention_tiles.c -o /tmp/attention_tiles -ldnnl -lopenblas
//   OMP_WAIT_POLICY=PASSIVE /tmp/attention_tiles     # oneDNN with 2 threads per product
//   OMP_NUM_THREADS=1 /tmp/attention_tiles           # oneDNN on the calling thread only
#include <oneapi/dnnl/dnnl.h>
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  dnnl_engine_t eng; dnnl_stream_t st; dnnl_engine_create(&eng,dnnl_cpu,0); dnnl_stream_create(&st,eng,dnnl_stream_default_flags);
  long shapes[][5]={{192,128,64,0,1},{192,64,128,0,0},{64,128,64,0,1},{128,64,64,1,0}};
  const char*names[]={"S=Q·Kᵀ [192x64]·[128x64]ᵀ","O+=P·V [192x128]·[128x64]","bwd S/dP [64x64]·[128x64]ᵀ","bwd dV/dK [64x128]ᵀ·[64x64]"};
  for(int s=0;s<4;s++){ long m=shapes[s][0],n=shapes[s][1],k=shapes[s][2]; int ta=shapes[s][3],tb=shapes[s][4];
    dnnl_memory_desc_t a,b,c; dnnl_dims_t ad={m,k},as={ta?1:k,ta?m:1},bd={k,n},bs={tb?1:n,tb?k:1},cd={m,n},cs={n,1};
    dnnl_memory_desc_init_by_strides(&a,2,ad,dnnl_bf16,as);dnnl_memory_desc_init_by_strides(&b,2,bd,dnnl_bf16,bs);dnnl_memory_desc_init_by_strides(&c,2,cd,dnnl_f32,cs);
    dnnl_matmul_desc_t md; dnnl_matmul_desc_init(&md,&a,&b,NULL,&c);
    dnnl_primitive_desc_t pd; dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL); dnnl_primitive_t p; dnnl_primitive_create(&p,pd);
    const char*impl; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl);
    uint16_t*A=calloc(m*k,2),*B=calloc(k*n,2); float*C=calloc(m*n,4),*Af=calloc(m*k,4),*Bf=calloc(k*n,4);
    for(long i=0;i<m*k;i++){A[i]=0x3f80;Af[i]=1;} for(long i=0;i<k*n;i++){B[i]=0x3f80;Bf[i]=1;}
    dnnl_memory_t ma,mb,mc; dnnl_memory_create(&ma,&a,eng,A);dnnl_memory_create(&mb,&b,eng,B);dnnl_memory_create(&mc,&c,eng,C);
    dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,ma},{DNNL_ARG_WEIGHTS,mb},{DNNL_ARG_DST,mc}};
    int it=20000; for(int r=0;r<100;r++){dnnl_primitive_execute(p,st,3,args);dnnl_stream_wait(st);}
    double t=now(); for(int r=0;r<it;r++){dnnl_primitive_execute(p,st,3,args);dnnl_stream_wait(st);} double td=(now()-t)/it;
    openblas_set_num_threads(1);
    t=now(); for(int r=0;r<it;r++){cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,1,Af,ta?m:k,Bf,tb?k:n,0,C,n);} double ts=(now()-t)/it;
    printf("%-28s oneDNN bf16 (%s) %.2f us = %.0f GFLOP/s | sgemm 1 thr %.2f us = %.0f GFLOP/s\n",names[s],impl,td*1e6,2.0*m*n*k/td/1e9,ts*1e6,2.0*m*n*k/ts/1e9);
  }
}
